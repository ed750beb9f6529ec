"""Object-storage credentials from a Prefect block: prefect-aws's `AwsCredentials`.

The flows take the name of an `AwsCredentials` block (`aws_credentials_block`); without one,
`s3://` paths use boto's usual chain (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_ENDPOINT_URL`, `AWS_REGION`, profiles). The block's values go to `mmapi.storage` and are
never passed as task parameters, logged, or put in a result.
"""

from __future__ import annotations

from mmapi.errors import ConfigurationError
from mmapi.storage import S3Credentials, use_credentials

__all__ = ["use_aws_credentials_block"]


def use_aws_credentials_block(block_name: str | None) -> None:
    """Use the credentials of an `AwsCredentials` block for `s3://` paths in this process.

    Args:
        block_name: The block's name; None keeps (or restores) the environment's credentials.

    Raises:
        ConfigurationError: the block does not exist, or asks for something s3fs cannot do
            (an assumed role).
    """
    if not block_name:
        use_credentials(None)
        return
    from prefect_aws import AwsCredentials

    try:
        block = AwsCredentials.load(block_name, _sync=True)  # type: ignore[call-arg]
    except ValueError as exc:
        raise ConfigurationError(f"AwsCredentials block {block_name!r} not found ({exc})") from None
    if block.assume_role_arn:
        raise ConfigurationError(
            f"AwsCredentials block {block_name!r} assumes a role, which the s3:// paths of "
            "this project do not support: give the role's keys, or a profile"
        )
    secret = block.aws_secret_access_key
    use_credentials(
        S3Credentials(
            access_key_id=block.aws_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            session_token=block.aws_session_token,
            profile=block.profile_name,
            region=block.region_name,
            endpoint_url=block.aws_client_parameters.endpoint_url,
        )
    )
