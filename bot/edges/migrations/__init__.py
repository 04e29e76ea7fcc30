"""The store's schema history as Alembic revisions (``versions/``), run by ``Store`` at start.

``env.py`` is Alembic's entry point: it runs the revisions on the connection the store hands over (or, for
``make revision``, on a database named by URL). See the README, "Changing the schema".
"""
