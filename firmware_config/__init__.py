"""Device profiles, systemd unit and ALSA configuration, installed with the package."""
