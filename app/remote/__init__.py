"""The remote engine: a server that runs the engine where the GPU is, and clients that stream its every step.

Nothing here imports Qt (a test checks): the server runs headless, the command line uses the sync client, and the
window drives the asyncio client on Qt's event loop through qasync.
"""
