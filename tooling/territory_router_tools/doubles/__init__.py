"""Test doubles of the runtime's ports (in-memory, same contracts): never shipped to Lambda."""
