"""The workspace: tracked paths on disk against what their pointers record."""
