"""Back up a Databricks workspace's notebooks into a Git repository, from Airflow."""

__version__ = "0.1.0"
