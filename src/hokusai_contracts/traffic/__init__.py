"""Recorded traffic: reading captures (HAR 1.2, the journal's JSONL, NDJSON) and writing HAR.

A capture from production (a proxy's access log, a browser's or a client's HAR, a ``contract-live``
run) becomes a stream of ``HttpExchange`` records (``domain.exchange``), each placed on a hop,
that the ``judge`` command judges exactly as a run judges its hop journals; a run's own journals
are written out as HAR the same way, with every key replaced by a placeholder, so a recording can
be shared and replayed.
"""
