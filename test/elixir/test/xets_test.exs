# xets from Elixir, as an Elixir project that depends on it uses it: every
# result is compared with :ets's on a twin table in the same VM.
defmodule XetsTest do
  use ExUnit.Case, async: true

  @types [:set, :ordered_set, :bag, :duplicate_bag]

  # Terms Elixir code stores: integers and the floats equal to them, -0.0,
  # bignums, atoms with Unicode, strings, charlists, bitstrings, improper
  # lists, small and large maps, structs, tuples, pids, refs, funs.
  defp terms do
    [1, 1.0, 0.0, -0.0, 2 ** 64, -(2 ** 70), :a, :"ünïcødé", "binary", ~c"charlist",
     <<1::3>>, [1 | 2], %{a: 1}, Map.new(1..40, &{&1, &1}), %URI{host: "h"}, {1, {2}},
     self(), make_ref(), &Enum.map/2, fn -> :ok end, []]
  end

  defp twins(type, opts \\ []) do
    {:ets.new(:e, [type | opts]), :xets.new(:x, [type | opts])}
  end

  defp both({e, x}, f), do: {f.(:ets, e), f.(:xets, x)}

  defp same(pair, f) do
    {expected, actual} = both(pair, f)
    assert actual == expected
    actual
  end

  # ets:fun2ms/1 as the Erlang shell evaluates it: the spec Erlang code
  # would get from ms_transform, to check the specs written here by hand.
  defp fun2ms(erlang_fun) do
    {:ok, tokens, _} = :erl_scan.string(~c"ets:fun2ms(#{erlang_fun}).")
    {:ok, exprs} = :erl_parse.parse_exprs(tokens)
    {:value, ms, _} = :erl_eval.exprs(exprs, [])
    ms
  end

  test "create, insert, lookup, delete on every type as :ets" do
    for type <- @types do
      pair = twins(type)
      objects = for {k, i} <- Enum.with_index(terms()), do: {k, i}
      same(pair, fn m, t -> m.insert(t, objects) end)
      same(pair, fn m, t -> m.insert(t, {1, :again}) end)
      for k <- terms() do
        same(pair, fn m, t -> m.lookup(t, k) |> Enum.sort() end)
        same(pair, fn m, t -> m.member(t, k) end)
      end
      same(pair, fn m, t -> m.info(t, :size) end)
      same(pair, fn m, t -> m.delete(t, 1.0) end)
      same(pair, fn m, t -> m.tab2list(t) |> Enum.sort() end)
      same(pair, fn m, t -> m.delete(t) end)
    end
  end

  # Elixir turns a badarg with error_info into an ArgumentError whose
  # message it builds from the module's format_error/2.
  test "bad arguments raise ArgumentError with an explanation, as :ets's do" do
    {e, x} = twins(:set)
    deleted = :xets.new(:gone, [])
    :xets.delete(deleted)
    for call <- [&(&1.insert(&2, :not_a_tuple)), &(&1.lookup_element(&2, :missing, 2)),
                 fn m, _ -> m.new(:t, [:bad_option]) end, fn m, _ -> m.new("t", []) end,
                 fn m, _ -> m.lookup(:no_such_table, 1) end] do
      ets = assert_raise(ArgumentError, fn -> call.(:ets, e) end)
      xets = assert_raise(ArgumentError, fn -> call.(:xets, x) end)
      assert Exception.message(xets) =~ "errors were found at the given arguments"
      assert explained(Exception.message(xets)) == explained(Exception.message(ets))
    end
    assert_raise ArgumentError, ~r/does not refer to an existing xets table/, fn ->
      :xets.lookup(deleted, 1)
    end
  end

  # Which arguments the message blames ("* 1st argument", "* 2nd argument").
  defp explained(message), do: Regex.scan(~r/\* (\w+) argument/, message)

  test "select with the specs ets:fun2ms/1 makes, as :ets" do
    specs = [
      {"fun({K, V}) when V > 10 -> K end",
       [{{:"$1", :"$2"}, [{:>, :"$2", 10}], [:"$1"]}]},
      {"fun({K, V} = O) when is_integer(K), V =/= 3 -> O end",
       [{{:"$1", :"$2"}, [{:is_integer, :"$1"}, {:"=/=", :"$2", 3}], [:"$_"]}]},
      {"fun({{a, N}, V}) -> {N, V * 2} end",
       [{{{:a, :"$1"}, :"$2"}, [], [{{:"$1", {:*, :"$2", 2}}}]}]},
      {"fun({K, _}) when is_map(K), map_size(K) > 32 -> true end",
       [{{:"$1", :_}, [{:is_map, :"$1"}, {:>, {:map_size, :"$1"}, 32}], [true]}]}
    ]
    for type <- @types, {source, spec} <- specs do
      assert fun2ms(source) == spec
      pair = twins(type)
      objects = for i <- 1..50, do: {Enum.at([i, {:a, i}, i * 1.0], rem(i, 3)), i}
      both(pair, fn m, t -> m.insert(t, objects ++ [{Map.new(1..40, &{&1, &1}), 1}]) end)
      sort = if type == :ordered_set, do: &Function.identity/1, else: &Enum.sort/1
      same(pair, fn m, t -> m.select(t, spec) |> sort.() end)
      same(pair, fn m, t -> m.select_count(t, [{elem(hd(spec), 0), elem(hd(spec), 1), [true]}]) end)
      same(pair, fn m, t -> m.select_reverse(t, spec) |> sort.() end)
      same(pair, fn m, t -> chunks(m, m.select(t, spec, 7)) |> sort.() end)
    end
  end

  defp chunks(_m, :"$end_of_table"), do: []
  defp chunks(m, {objects, cont}), do: objects ++ chunks(m, m.select(cont))

  # The owner's death, with and without an heir, and give_away, between
  # Elixir processes: what each side is told and who owns the table after.
  test "a table goes to its heir when its owner dies, as with :ets" do
    for m <- [:ets, :xets] do
      me = self()
      {owner, ref} =
        spawn_monitor(fn ->
          t = m.new(:inherited, [:public, {:heir, me, :my_data}])
          m.insert(t, {:k, :v})
          send(me, {:table, t})
        end)
      assert_receive {:table, t}
      assert_receive {:DOWN, ^ref, :process, ^owner, :normal}
      assert_receive {:"ETS-TRANSFER", ^t, ^owner, :my_data}
      assert m.info(t, :owner) == me
      assert m.lookup(t, :k) == [{:k, :v}]
      m.delete(t)
    end
  end

  test "a table without an heir dies with its owner, as with :ets" do
    for m <- [:ets, :xets] do
      me = self()
      {owner, ref} = spawn_monitor(fn -> send(me, {:table, m.new(:mortal, [:public])}) end)
      assert_receive {:table, t}
      assert_receive {:DOWN, ^ref, :process, ^owner, :normal}
      assert m.info(t) == :undefined
      assert_raise ArgumentError, fn -> m.lookup(t, :k) end
    end
  end

  test "give_away hands the table over with its message, as with :ets" do
    for m <- [:ets, :xets] do
      me = self()
      receiver =
        spawn(fn ->
          receive do
            {:"ETS-TRANSFER", t, from, gift} ->
              send(me, {:received, t, from, gift, m.info(t, :owner) == self()})
          end
        end)
      t = m.new(:given, [])
      m.insert(t, {1})
      assert m.give_away(t, receiver, :gift)
      assert_receive {:received, ^t, ^me, :gift, true}
      assert_raise ArgumentError, fn -> m.insert(t, {2}) end
    end
  end
end
