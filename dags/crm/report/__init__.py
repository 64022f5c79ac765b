"""The CRM report: one self-contained HTML page (plotly.js inlined, no network) of charts, each with a
one-line reading computed from the data and the numbers behind it.

``source`` reads the published marts and the audit tables, ``panels`` (business), ``quality`` (data
quality) and ``clv`` (customer lifetime value, rendered when ``marts.customer_clv`` exists) turn
them into :class:`~crm.report.model.Panel` objects, and ``render`` lays them out.
"""
