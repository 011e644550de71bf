"""The local stage (`make run`): moto's DynamoDB server and the API each in a process of their
own, the tables, demo data, the page and the billing driver in make run's (stage.py). Never
imported by the deployed Lambda."""
