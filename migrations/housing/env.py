from alembic import context

from lmx_common.migrations import run_env

run_env(context)
