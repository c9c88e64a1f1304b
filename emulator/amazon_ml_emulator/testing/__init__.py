"""Testing users' own code against the emulator: a pytest plugin and a runner of DAGs under ``airflow dags test``."""
