"""Our ER7 splitter reads the same field values as the `hl7` package's parser (the reference)."""

from __future__ import annotations

import hl7
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.codecs.hl7v2 import _Message

# Field text with delimiters inside values, escaped as a sender must: the hard part of ER7.
plain = st.text(alphabet="ABCxyz019 .-/", min_size=1, max_size=8).map(str.strip).filter(bool)
escape = st.sampled_from([r"\F\ ", r"\S\ ", r"\T\ ", r"\R\ ", r"\E\ "]).map(str.strip)
value = st.lists(plain | escape, min_size=1, max_size=4).map("".join).filter(lambda v: v.strip() == v)
field = st.lists(st.lists(value, min_size=1, max_size=3).map("^".join), min_size=1, max_size=3).map("~".join)

PATHS = [
    ("MSH", 9, 1),
    ("MSH", 9, 2),
    ("PID", 3, 1),
    ("PID", 3, 4),
    ("PV1", 3, 1),
    ("PV1", 3, 2),
    ("PV1", 3, 3),
    ("PV1", 19, 1),
    ("OBR", 3, 1),
    ("OBX", 3, 1),
    ("OBX", 5, 1),
    ("OBX", 6, 1),
    ("OBX", 14, 1),
]


@settings(max_examples=300, deadline=None)
@given(
    pid3=field, pv1_3=field, obr3=field, obx3=field, obx5=field, obx6=field, sep=st.sampled_from(["\r", "\n"])
)
def test_field_values_agree_with_the_hl7_package(
    pid3: str, pv1_3: str, obr3: str, obx3: str, obx5: str, obx6: str, sep: str
) -> None:
    text = sep.join(
        [
            "MSH|^~\\&|LAB|HOSP|LW|HOSP|20260301104500||ORU^R01^ORU_R01|M1|P|2.5.1",
            f"PID|1||{pid3}",
            f"PV1|1|I|{pv1_3}||||||||||||||||V{obr3}",
            f"OBR|1||{obr3}",
            f"OBX|1|ST|{obx3}||{obx5}|{obx6}|||||F|||202603011000",
        ]
    )
    ours = _Message(text)
    reference = hl7.parse(text.replace("\n", "\r"))
    for name, number, component in PATHS:
        try:
            expected = str(reference[f"{name}.F{number}.R1.C{component}"]).strip()
        except IndexError:  # the reference raises for a component beyond a field's last one
            expected = ""
        assert ours.value(ours.first(name), number, component) == expected, (name, number, component)
