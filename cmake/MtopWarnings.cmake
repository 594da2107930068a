# Warnings are errors on our own code only (never on third-party headers, which we include
# as SYSTEM through their imported targets).
function(mtop_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor
                                           -Wcast-align -Wunused -Woverloaded-virtual
                                           -Wformat=2 -Wimplicit-fallthrough)
endfunction()
