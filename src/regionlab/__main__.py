"""``python -m regionlab``: the same as the ``regionlab`` command."""

from .cli.main import _entry

if __name__ == "__main__":
    _entry()
