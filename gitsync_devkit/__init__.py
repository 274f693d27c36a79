"""The development kit: local stand-ins for Databricks and Azure DevOps, the demo, a local Airflow.

For tests, benchmarks and ``make demo`` only; it is not in the wheel (``make install`` puts the checkout on
the venv's path).
"""
