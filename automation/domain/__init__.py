"""The functional core: pure functions over pandas DataFrames, the clock passed in.

Nothing here imports gspread, openpyxl, smtplib or touches the network or the file system.
"""
