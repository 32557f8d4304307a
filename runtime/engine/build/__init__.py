"""hull build: Dockerfiles (dockerfile.py), contexts and .dockerignore (context.py), the steps (builder.py)."""
