"""The memory console in a real browser: headless Chromium (selenium), for tests/browser and `chat-memory
screenshots`."""
