"""What the product runs on: Redis and the job queues, media storage and serving, health, web security."""
