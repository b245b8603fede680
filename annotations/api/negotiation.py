"""DRF's content negotiation, remembered. Its answer depends only on the Accept header, the format
asked for and the view's renderers, yet parsing the header again on every request was about 5% of
a labeling-loop request's CPU."""

from rest_framework.negotiation import DefaultContentNegotiation

MAX_REMEMBERED = 1024  # distinct (Accept, format, renderers) answers kept; clients send few kinds
MAX_REMEMBERED_ACCEPT = 256  # longer Accept headers are worked out each time, not kept

_remembered: dict[tuple, tuple[int, str]] = {}


class RememberedContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        format_asked = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        key = (request.META.get("HTTP_ACCEPT", "*/*"), format_asked, tuple(type(r) for r in renderers))
        answer = _remembered.get(key)
        if answer is None:
            # NotAcceptable propagates and is not remembered (it is rare and cheap to find again).
            renderer, media_type = super().select_renderer(request, renderers, format_suffix)
            answer = (renderers.index(renderer), media_type)
            if len(_remembered) < MAX_REMEMBERED and len(key[0]) <= MAX_REMEMBERED_ACCEPT:
                _remembered[key] = answer
        index, media_type = answer
        return renderers[index], media_type
