"""The Celery app the workers run: ``celery -A audio_assets.execution.celery_app worker -Q gpu`` (see README).

Same broker, backend and settings as the executor in definitions.py, so submitted steps and workers
agree. Each worker process keeps the models it loaded for its lifetime: a step reuses them.

Not ``dagster-celery worker start -y``: it copies the config's ``config_source`` verbatim into a module
it generates, so the visibility timeout could not come from CELERY_VISIBILITY_TIMEOUT as the executor's
does, and it leaves a new folder under DAGSTER_HOME at every start.
"""

import dagster as dg
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from audio_assets.execution import celery_settings

app = make_app(
    {
        "broker": dg.EnvVar("CELERY_BROKER_URL").get_value(),
        "backend": dg.EnvVar("CELERY_BACKEND_URL").get_value(),
        "include": [],
        "config_source": celery_settings(int(dg.EnvVar("CELERY_VISIBILITY_TIMEOUT").get_value("3600"))),
    }
)
execute_plan = create_task(app)
