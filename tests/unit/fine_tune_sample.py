"""The fields of a fine-tune request that the unit tests build on (``create_request(**FINE_TUNE_FIELDS)``)."""

FINE_TUNE_FIELDS = {
    "project_id": 7,
    "training_files": ["file-1"],
    "model": "llama",
    "n_epochs": 2,
    "accel_type": "H100",
    "n_accel": 1,
}
