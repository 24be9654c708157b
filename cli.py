"""Run the jaxsep command line from a checkout: ``python cli.py --help`` (same app as the ``jaxsep`` script)."""

from jaxsep.cli import app

if __name__ == "__main__":
    app()
