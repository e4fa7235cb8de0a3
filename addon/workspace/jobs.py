"""The re-offer job: unclaimed chats go back to their group's online agents after the site's delay.

Every process may run it. Each re-offer locks the routing row and checks the due time again, so two
processes never offer the same round twice (see claims.reoffer_due).
"""

import logging
from datetime import timezone

from ..jobs import stop_at_exit
from .claims import reoffer_due

log = logging.getLogger(__name__)


def init_app(app):
    """Run `reoffer_due` every ROUTING_REOFFER_TICK_SECS in a BackgroundScheduler of this process."""
    if not app.config.get("ROUTING_REOFFER_JOB", True):
        return None
    from apscheduler.schedulers.background import BackgroundScheduler

    def run():
        with app.app_context():
            try:
                offered = reoffer_due()
                if offered:
                    log.info("Offered %d unclaimed chat(s) again", offered)
            except Exception:  # noqa: BLE001  (the next tick retries)
                log.exception("The re-offer job failed")

    scheduler = BackgroundScheduler(timezone=timezone.utc)
    scheduler.add_job(run, "interval", seconds=app.config.get("ROUTING_REOFFER_TICK_SECS", 10), id="reoffer_chats",
                      coalesce=True, max_instances=1)
    scheduler.start()
    stop_at_exit(scheduler)
    app.extensions["routing_scheduler"] = scheduler
    return scheduler
