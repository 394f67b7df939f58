"""The seed design, rebuilt from the articles it came from, as the baseline nvr must beat.

Two variants of Miguel Grinberg's flask-video-streaming, written from the articles'
description and fed nvr's own frames (a Redis subscription to the same channel, at
the camera's 15 fps), so every design in a run serves the very same JPEGs:

- `original`: a Flask app whose per-client generator yields `camera.get_frame()`,
  served by Flask's threaded development server (a thread per client);
- `revisited`: one background thread per camera and per-client events
  (`BaseCamera` / `CameraEvent`), served by gunicorn with gevent workers.

Both build each part per client, as the articles do. Unlike the articles, a part
carries `Content-Length` and `X-Timestamp` (the load generator measures latency from
it), so every design sends the same bytes per frame.
"""
