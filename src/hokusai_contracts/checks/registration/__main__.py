"""``python -I <bundle>``: the registration in another MLflow version's environment (``client.main``)."""

import sys

from hokusai_contracts.checks.registration.client import main

sys.exit(main())
