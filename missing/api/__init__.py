"""The JSON API (DRF): views, serializers, URLs, filters, the error handler, the bounded
parser and the input limits shared with the web forms."""
