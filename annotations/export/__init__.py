"""The pair export, one concern a module, imports in one direction:

    options (ExportOptions) ← pairs (one prompt → its pair rows, pure) ← writers (the files, pure)
        ← reading (rows from PostgreSQL) ← bundle (manifest, dataset card, zip) ← job (the export job)

`options`, `pairs` and `writers` import nothing from Django: they are tested with plain lists, and
the bench runs them on records in memory. Nothing here imports `annotations.tasks`: the doors
(views, API, commands) create the Export row and enqueue the task after commit."""
