"""Client review: links to a compiled video, the client's page, and comments the team answers and resolves."""
