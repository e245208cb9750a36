"""``python -m streams worker --without-web``: one stream worker."""

from streams.app import app

if __name__ == "__main__":
    app.main()
