"""Generators of the checked-in artefacts: infra/openapi.json (`openapi`), events/*.json (`events`) and
functions/requirements.txt (`requirements`); each has `--check` (`make check-generated`)."""
