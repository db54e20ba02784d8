"""``Artifacts``: the ``Registry`` port for images and Helm charts alike.

Images go to the OCI ``RegistryClient`` as they are. A chart key (``bot.core.chart_names``) is
answered by where the chart lives:

- ``oci://host/path/name``: the same registry client (tags list, digest), and a tag counts as the
  chart's version only when its manifest's config is a Helm chart's
  (``application/vnd.cncf.helm.config.v1+json``); an image under that name is refused
  (``ValidationFailed``, recorded on the group), not waited for;
- ``https://repository/name``: the repository's ``index.yaml`` (``HelmRepositories``); a version it
  does not list is not there yet, so the group waits for it as for an image tag.
"""

from __future__ import annotations

from bot.core.chart_names import helm_repository, is_chart, name_of, oci_repository
from bot.core.ports import ImageConfig, ResolvedImage
from bot.errors import ValidationFailed
from bot.registry import configs
from bot.registry.client import RegistryClient
from bot.registry.helm_repo import HelmRepositories

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"


class Artifacts:
    def __init__(self, images: RegistryClient, helm: HelmRepositories) -> None:
        self.images = images
        self.helm = helm

    def resolve(self, image: str, tag: str, *, fresh: bool = False) -> ResolvedImage | None:
        if not is_chart(image):
            return self.images.resolve(image, tag, fresh=fresh)
        oci = oci_repository(image)
        if oci is None:
            return self.helm.resolve(_repository(image), name_of(image), tag, fresh=fresh)
        found = self.images.resolve(oci, tag, fresh=fresh)
        if found is None:
            return None
        media_type = self.images.config_media_type(oci, found.digest)
        if media_type != HELM_CONFIG:
            raise ValidationFailed(
                f"{oci}:{tag} is not a Helm chart: its config is {media_type or 'missing'}, not {HELM_CONFIG}"
            )
        return ResolvedImage(image, tag, found.digest, found.media_type)

    def exists(self, image: str, tag: str) -> bool:
        return self.resolve(image, tag) is not None

    def list_tags(self, image: str) -> tuple[str, ...]:
        if not is_chart(image):
            return self.images.list_tags(image)
        oci = oci_repository(image)
        if oci is not None:
            return self.images.list_tags(oci)
        return tuple(self.helm.versions(_repository(image), name_of(image)))  # NotFound: not listed

    def released(self, image: str, digest: str) -> float | None:
        """When the image or OCI chart at ``digest`` was built; a classic repository's chart: None
        (the bot's first sight of the version stands in)."""
        if not is_chart(image):
            return self.images.released(image, digest)
        oci = oci_repository(image)
        return self.images.released(oci, digest) if oci is not None else None

    def platforms(self, image: str, digest: str) -> tuple[str, ...] | None:
        if is_chart(image):
            raise ValidationFailed(
                f"{image} is a Helm chart, built for no platform: policy.platforms is for images"
            )
        return self.images.platforms(image, digest)

    def image_config(self, image: str, reference: str) -> ImageConfig | None:
        """The config's labels (release notes): an image's, or a chart's Chart.yaml first
        ``sources`` URL and version as the source and version labels (an OCI chart's Helm config;
        a classic repository's ``index.yaml`` entry). None: the version is not published."""
        if not is_chart(image):
            return self.images.image_config(image, reference)
        oci = oci_repository(image)
        if oci is not None:
            return self.images.image_config(oci, reference)
        repository, chart = _repository(image), name_of(image)
        if self.helm.resolve(repository, chart, reference, fresh=False) is None:
            return None
        source = self.helm.source(repository, chart, reference)
        labels = (
            {configs.SOURCE: source, configs.VERSION: reference} if source else {configs.VERSION: reference}
        )
        return ImageConfig(image, reference, labels)


def _repository(key: str) -> str:
    repository = helm_repository(key)
    assert repository is not None  # a chart key that is not oci:// is a Helm repository's
    return repository
