"""`python -m crmfeed` is the `crmfeed` command."""

from crmfeed.cli import app

app(prog_name="crmfeed")
