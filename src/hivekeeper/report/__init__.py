"""What a run looked like: its time series (``timeseries``) and the self-contained HTML report (``html``).

Pure: no I/O library, no worker. The local runner records the series; a cluster run can fill the same model.
"""
