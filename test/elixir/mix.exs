# An Elixir project that depends on xets by path, as a user's would: mix
# builds xets with rebar3 (MIX_REBAR3 names Debian's; nothing comes from
# hex). `mix test` here is the ExUnit stage of test/run.
defmodule XetsElixirTest.MixProject do
  use Mix.Project

  def project do
    [
      app: :xets_elixir_test,
      version: "0.1.0",
      elixir: "~> 1.14",
      deps: [{:xets, path: "../..", manager: :rebar3}]
    ]
  end
end
