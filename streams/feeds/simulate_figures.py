"""The simulated hospital's figures: percentiles and rates measured on the MIMIC-IV demo v2.2."""

from __future__ import annotations

from datetime import UTC, datetime

# --- figures from the MIMIC-IV demo v2.2 ------------------------------------------------------------
# Derived once from /work/shared/data/mimic-iv-demo/hosp (275 admissions, 1,891 inpatient days) with a
# throw-away csv+gzip script; percentiles are linear-interpolated at PCT. Values: labevents valuenum of
# itemids 50971+50822 (K, mEq/L, n=3,321) and 50960 (Mg, mg/dL, n=2,470); delay = storetime - charttime;
# length of stay = admissions.dischtime - admittime; order durations = prescriptions stoptime - starttime
# (rows with stop > start) per class, matched by drug name.
# fmt: off
PCT = (0, 1, 2.5, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97.5, 99, 100)
K_MEQ_L = (2.3, 3.0, 3.1, 3.3, 3.5, 3.7, 3.8, 4.0, 4.1, 4.3, 4.4, 4.7, 5.0, 5.4, 5.7, 6.2, 8.8)
MG_MG_DL = (0.9, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.0, 2.1, 2.2, 2.2, 2.4, 2.6, 2.7, 3.0, 10.0)
RESULT_DELAY_H = (0.017, 0.033, 0.05, 0.458, 0.75, 0.9, 1.033, 1.15, 1.283, 1.433, 1.633, 1.933, 2.45,
                  3.242, 4.65, 6.75, 28.9)
LENGTH_OF_STAY_H = (1.117, 3.555, 9.582, 14.18, 23.393, 48.047, 69.41, 93.763, 116.467, 141.94, 187.453,
                    242.207, 348.063, 550.602, 618.631, 730.836, 1078.267)
# Intra-class correlation of each analyte's normal scores within an admission, and the K-Mg correlation
# of normal scores in one specimen: a patient runs low or high, and K and Mg move a little together.
K_ICC, MG_ICC, K_MG_CORRELATION = 0.38, 0.44, 0.19
# Chemistry specimens with K per inpatient day; share of them with Mg (99.5% of Mg share a K specimen);
# blood-gas K (50822) per inpatient day.
CHEM_DRAWS_PER_DAY, MG_WITH_CHEM, BLOOD_GAS_K_PER_DAY = 1.28, 0.81, 0.13
# Per class: share of admissions with an order, orders per such admission, duration percentiles (h),
# (RxNorm code, display) choices. Thiazide is conditional on loop (5.1% of admissions have both).
ORDER_CLASSES: dict[str, tuple[float, float, tuple[float, ...], tuple[tuple[str, str], ...]]] = {
    "loop": (0.404, 5.14, (1, 1, 2, 3, 4, 10.4, 15, 22, 23, 23, 23, 27, 40.2, 70.3, 108.3, 152.5, 330),
             (("4603", "furosemide 40 mg IV"), ("4603", "Furosemide 20 mg PO"), ("", "Lasix 40 mg PO"),
              ("1808", "bumetanide 1 mg IV"), ("38413", "torsemide 20 mg PO"))),
    "thiazide": (0.055, 1.87, (2, 2, 2.05, 3, 5.2, 8.4, 11, 20, 23, 23, 25.4, 46.4, 81.8, 213.4, 238.2, 291.8,
                              330),
                 (("5487", "hydrochlorothiazide 25 mg PO"), ("2409", "chlorthalidone 25 mg PO"),
                  ("6916", "metolazone 5 mg PO"), ("", "Maxzide 37.5-25 mg PO"))),
    "potassium_sparing": (0.069, 1.11, (8, 8.4, 9, 9.9, 13.6, 24.8, 50.1, 67.6, 92.5, 103.8, 116.4, 134.2,
                                        160.6, 199.9, 264.9, 304, 330),
                          (("9997", "spironolactone 25 mg PO"),)),
    "carbonic_anhydrase_inhibitor": (0.011, 2.0, (23, 23, 23, 23, 23, 23, 23, 23, 23.5, 24, 27, 30, 51, 61.5,
                                                  66.8, 69.9, 72),
                                     (("167", "acetazolamide 250 mg PO"),)),
    "potassium_replacement": (0.582, 5.64, (1, 1, 2, 5, 8, 15, 23, 23, 23, 30, 46, 74, 128, 234, 374.5, 436.9,
                                            559),
                              (("8591", "potassium chloride 20 mEq PO"), ("", "KCl 40 mEq PO"),
                               ("", "Potassium Chl 20 mEq / 1000 mL D5 1/2 NS"))),
    "magnesium_replacement": (0.527, 2.97, (1, 1.2, 2, 3, 8, 16, 23, 23, 24, 41.8, 64, 119.6, 202.8, 307.8,
                                            364, 452, 559),
                              (("6585", "magnesium sulfate 2 g IV"), ("", "Magnesium Oxide 400 mg PO"))),
}
THIAZIDE_GIVEN_LOOP = 0.126
# Not from the demo (it has ~8.5 other-drug prescriptions per patient-day): a lighter stream of unwatched
# orders keeps the "ignored" path exercised without drowning the watched traffic.
OTHER_ORDERS_PER_DAY = 2.0
OTHER_DRUGS = (("5224", "heparin 5000 units SC"), ("161", "acetaminophen 650 mg PO"),
               ("40790", "pantoprazole 40 mg IV"), ("", "Losartan Potassium 50 mg PO"),
               ("", "Milk of Magnesia 30 mL PO"))
MG_MMOL_SHARE = 0.2  # patients whose lab reports Mg in mmol/L (LOINC 2601-3) instead of mg/dL (19123-9)
UNITS = ("4W", "5E", "6N", "MICU", "CVICU", "Med/Surg & Tele")
START = datetime(2025, 1, 6, tzinfo=UTC).timestamp()
OTHER_LABS = (("2951-2", "Sodium", 135.0, 145.0, "mmol/L"), ("2075-0", "Chloride", 96.0, 108.0, "mmol/L"),
               ("2028-9", "Carbon dioxide", 20.0, 30.0, "mmol/L"),
               ("3094-0", "Urea nitrogen", 8.0, 40.0, "mg/dL"), ("2160-0", "Creatinine", 0.5, 2.5, "mg/dL"),
               ("2345-7", "Glucose", 70.0, 220.0, "mg/dL"))
# fmt: on
