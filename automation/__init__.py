"""The reception-log worker of a property-service center (物業服務中心前臺接待)."""

__version__ = "0.1.0"
