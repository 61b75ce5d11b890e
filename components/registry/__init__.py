"""The model root: where pushed versions live, local or gs:// (push writes it, evaluate reads it).

```
<root>/<model>/LATEST                      the version in service (one line)
<root>/<model>/<version>/_CLAIM            who is writing this version (a unique token)
<root>/<model>/<version>/model/...         the train output (serving/, embeddings/, ...)
<root>/<model>/<version>/transform_graph/  the TFT graph (when given)
<root>/<model>/<version>/<document>.json   metrics, blessing, ...
<root>/<model>/<version>/manifest.json     lineage + sha256 of every file; written last
```

A version is complete iff its manifest exists; LATEST only ever names a complete, verified
version (the publish protocol is ``components.push.publish``). ``model_root.ModelRoot`` reads
and verifies versions; ``store`` is the only module that touches files or gs://.
"""
