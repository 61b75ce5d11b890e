"""Report: one page per run for analysts (data, model quality, the gate's verdict)."""
