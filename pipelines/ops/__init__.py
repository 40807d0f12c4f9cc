"""Operations around a run: a local dask.distributed cluster for the Dask runner (``cluster``)."""
