"""The stream worker: faust app, agents, timers, health pages, gap guard and the patient table value."""
