"""Strict local AWS: SSM parameter values within their tier's size (see devkit/localaws/ssm.py)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from devkit.localaws.layers import plain_moto


def test_a_standard_value_over_4_kb_is_refused_intelligent_tiering_takes_8_kb(clients):
    ssm = clients("ssm")
    with plain_moto():
        ssm.put_parameter(Name="/plain", Value="a" * 5000, Type="String")  # moto: any size
    with pytest.raises(ClientError, match="Standard tier parameters support a maximum"):
        ssm.put_parameter(Name="/standard", Value="a" * 4097, Type="String")
    ssm.put_parameter(Name="/standard", Value="a" * 4096, Type="String")
    ssm.put_parameter(Name="/tiered", Value="a" * 8192, Type="String",
                      Tier="Intelligent-Tiering")
    with pytest.raises(ClientError, match="less than or equal to 8192"):
        ssm.put_parameter(Name="/tiered", Value="a" * 8193, Type="String", Overwrite=True,
                          Tier="Intelligent-Tiering")
