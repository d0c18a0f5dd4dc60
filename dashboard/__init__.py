"""The Streamlit app (entry ``dashboard/app.py``): thin pages over :mod:`layers`."""
