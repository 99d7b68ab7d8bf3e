"""Analysis reports (SPEC §9): ``writer`` (the report folder's one writer), ``folder`` (a report read
back, torch-free, as the events its analysis streamed), ``html`` (``index.html``, one offline page,
also for finished runs) with ``figures`` (matplotlib), ``tables`` and ``facts``."""
