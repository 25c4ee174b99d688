"""In-memory adapters: the demo mode and the fast tests. They ship; they are not fakes."""
