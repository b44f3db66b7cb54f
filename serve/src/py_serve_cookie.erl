%% @doc The distribution cookie of `py-buffer-serve' (`--cookie-file', default
%% `~/.erlang.cookie'): read from a file, never taken from the command line, where `ps'
%% shows it to every local user. The file must be one non-empty line (blanks around it are
%% dropped) and not open to group or others, as Erlang itself requires of
%% `~/.erlang.cookie'; {@link read/1} says what is wrong otherwise.
-module(py_serve_cookie).

-export([read/1]).

-include_lib("kernel/include/file.hrl").

%% @doc The cookie in the file `Path' (a leading `~/' is `$HOME'), or why it cannot be used.
-spec read(string()) -> {ok, atom()} | {error, string()}.
read(Path) ->
    try
        File = expand(Path),
        ok = check(File),
        {ok, list_to_atom(line(File))}
    catch
        throw:{cookie, Format, Args} -> {error, lists:flatten(io_lib:format(Format, Args))}
    end.

expand("~/" ++ Rest = Path) ->
    case os:getenv("HOME") of
        false -> throw({cookie, "no HOME for the cookie file ~s: give --cookie-file", [Path]});
        Home -> filename:join(Home, Rest)
    end;
expand(Path) ->
    Path.

check(File) ->
    case file:read_file_info(File) of
        {ok, #file_info{type = regular, mode = Mode}} when Mode band 8#077 =/= 0 ->
            throw({cookie, "the cookie file ~s is open to group or others (mode ~.8B): "
                   "chmod 600 ~s", [File, Mode band 8#777, File]});
        {ok, #file_info{type = regular}} ->
            ok;
        {ok, #file_info{type = Type}} ->
            throw({cookie, "the cookie file ~s is not a regular file (~s)", [File, Type]});
        {error, Why} ->
            throw({cookie, "cannot read the cookie file ~s: ~s", [File, file:format_error(Why)]})
    end.

line(File) ->
    case file:read_file(File) of
        {ok, Bin} ->
            case string:trim(binary_to_list(Bin)) of
                "" ->
                    throw({cookie, "the cookie file ~s is empty", [File]});
                Cookie ->
                    lists:member($\n, Cookie)
                        andalso throw({cookie, "the cookie file ~s has more than one line",
                                       [File]}),
                    Cookie
            end;
        {error, Why} ->
            throw({cookie, "cannot read the cookie file ~s: ~s", [File, file:format_error(Why)]})
    end.
