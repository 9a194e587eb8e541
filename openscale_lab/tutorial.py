"""The tutorial's own settings, in one place: the German credit columns, model and deployment names, the
fairness configuration, the business application, the columns a transaction list shows, and the eight
applicants of the first scoring request.

Monitors take columns and training data from the model's repository metadata. The notebooks and the
history replay (which plays the tutorial's scenario) use these settings; the dashboard uses only
TRANSACTION_COLUMNS, as a preference it falls back from when a model lacks them.
"""
from __future__ import annotations

from typing import Any

CATEGORICAL_COLUMNS: list[str] = [
    "CheckingStatus", "CreditHistory", "LoanPurpose", "ExistingSavings", "EmploymentDuration",
    "Sex", "OthersOnLoan", "OwnsProperty", "InstallmentPlans", "Housing", "Job", "Telephone",
    "ForeignWorker",
]
NUMERIC_COLUMNS: list[str] = [
    "LoanDuration", "LoanAmount", "InstallmentPercent", "CurrentResidenceDuration", "Age",
    "ExistingCreditsCount", "Dependents",
]
# Order of the 20 attributes in the tutorial's scoring payloads.
FEATURE_COLUMNS: list[str] = [
    "CheckingStatus", "LoanDuration", "CreditHistory", "LoanPurpose", "LoanAmount",
    "ExistingSavings", "EmploymentDuration", "InstallmentPercent", "Sex", "OthersOnLoan",
    "CurrentResidenceDuration", "OwnsProperty", "Age", "InstallmentPlans", "Housing",
    "ExistingCreditsCount", "Job", "Dependents", "Telephone", "ForeignWorker",
]
# The values each number may take, declared once for the model: training writes them into the model's input
# schema, and the scoring service, the feedback log and the OpenAPI document refuse a value outside them.
# Values inside but beyond what training saw (an amount of 50 000) are scored; the drift monitor counts them.
INPUT_DOMAINS: dict[str, dict[str, float]] = {
    "LoanDuration": {"minimum": 0}, "LoanAmount": {"minimum": 0}, "InstallmentPercent": {"minimum": 0},
    "CurrentResidenceDuration": {"minimum": 0}, "Age": {"minimum": 0, "maximum": 130},
    "ExistingCreditsCount": {"minimum": 0}, "Dependents": {"minimum": 0},
}
LABEL_COLUMN = "Risk"
FAVOURABLE_LABEL = "No Risk"
UNFAVOURABLE_LABEL = "Risk"

PREDICTION_COLUMN = "prediction"
PREDICTED_LABEL_COLUMN = "predictedLabel"
PROBABILITY_COLUMN = "probability"
TRANSACTION_ID_COLUMN = "transaction_id"

MODEL_NAME = "Spark German Risk Model - Final"
DEPLOYMENT_NAME = "Spark German Risk Deployment - Final"
AUC_THRESHOLD = 0.7
SPLIT_SEED = 24

# The eight applicants scored in the tutorial's first scoring request.
SAMPLE_APPLICANTS: list[list[object]] = [
    ["no_checking", 13, "credits_paid_to_date", "car_new", 1343, "100_to_500", "1_to_4", 2, "female", "none", 3,
     "savings_insurance", 46, "none", "own", 2, "skilled", 1, "none", "yes"],
    ["no_checking", 24, "prior_payments_delayed", "furniture", 4567, "500_to_1000", "1_to_4", 4, "male", "none",
     4, "savings_insurance", 36, "none", "free", 2, "management_self-employed", 1, "none", "yes"],
    ["0_to_200", 26, "all_credits_paid_back", "car_new", 863, "less_100", "less_1", 2, "female", "co-applicant",
     2, "real_estate", 38, "none", "own", 1, "skilled", 1, "none", "yes"],
    ["0_to_200", 14, "no_credits", "car_new", 2368, "less_100", "1_to_4", 3, "female", "none", 3, "real_estate",
     29, "none", "own", 1, "skilled", 1, "none", "yes"],
    ["0_to_200", 4, "no_credits", "car_new", 250, "less_100", "unemployed", 2, "female", "none", 3,
     "real_estate", 23, "none", "rent", 1, "management_self-employed", 1, "none", "yes"],
    ["no_checking", 17, "credits_paid_to_date", "car_new", 832, "100_to_500", "1_to_4", 2, "male", "none", 2,
     "real_estate", 42, "none", "own", 1, "skilled", 1, "none", "yes"],
    ["no_checking", 33, "outstanding_credit", "appliances", 5696, "unknown", "greater_7", 4, "male",
     "co-applicant", 4, "unknown", 54, "none", "free", 2, "skilled", 1, "yes", "yes"],
    ["0_to_200", 13, "prior_payments_delayed", "retraining", 1375, "100_to_500", "4_to_7", 3, "male", "none", 3,
     "real_estate", 37, "none", "own", 2, "management_self-employed", 1, "none", "yes"],
]


def sample_payload() -> dict[str, list]:
    """The tutorial's first scoring request: eight applicants in `fields`/`values` form."""
    return {"fields": list(FEATURE_COLUMNS), "values": [list(v) for v in SAMPLE_APPLICANTS]}

# The fairness monitor as the tutorial configures it (notebook 02).
FAIRNESS_FEATURES: list[dict[str, object]] = [
    {"feature": "Sex", "monitored": ["female"], "reference": ["male"]},
    {"feature": "Age", "monitored": [[18, 25]], "reference": [[26, 75]]},
]
FAIRNESS_THRESHOLD = 0.95

# Model inputs the dashboard's transaction list shows, when the model has them (else its first inputs).
TRANSACTION_COLUMNS: list[str] = ["Sex", "Age", "LoanAmount", "LoanDuration"]

# The business application of the tutorial: its payload is derived from the model's decisions, the amount
# granted being the applicant's LoanAmount.
CREDIT_AMOUNT_FIELD = "LoanAmount"
TUTORIAL_APPLICATION: dict[str, Any] = {
    "name": "Tutorial Credit Risk Application",
    "description": "Loans granted by the credit-risk model's decisions",
    "payload_fields": [
        {"name": "LoanDuration", "type": "integer", "description": "Duration of the loan (months)"},
        {"name": "LoanPurpose", "type": "string", "description": "Purpose of the loan"},
        {"name": "LoanAmount", "type": "integer", "description": "Amount requested"},
        {"name": "InstallmentPercent", "type": "integer", "description": "Installment percent"},
        {"name": "AcceptedPercent", "type": "double", "description": "Share of the amount granted (0 or 100)"},
        {"name": "AmountGranted", "type": "integer", "description": "Amount granted"},
        {"name": "Accepted", "type": "integer", "description": "1 if the loan was accepted"},
    ],
    "business_metrics": [
        {"name": "Accepted Credits", "field": "Accepted", "aggregation": "sum", "time_unit": "day",
         "lower_limit": 2150, "description": "Accepted credits per day"},
        {"name": "Credit Amount Granted", "field": "AmountGranted", "aggregation": "sum", "time_unit": "day",
         "lower_limit": 5_500_000, "description": "Credit amount granted per day"},
    ],
}
