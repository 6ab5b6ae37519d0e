"""What the operators, sensors and triggers share about waiting on SeekrFlow jobs, free of Airflow imports."""
