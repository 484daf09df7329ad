"""What a run is made of (records) and the statuses of its life (status); imports only lstmlab.core."""
