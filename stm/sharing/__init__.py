"""Delta Sharing, locally: the provider's sharing endpoint, its recipients, and the hub that reads every provider."""
