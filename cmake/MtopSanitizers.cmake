# MTOP_SANITIZE: ASan + UBSan on everything, and UBSan findings are fatal so tests fail on them.
if(MTOP_SANITIZE AND NOT MTOP_FUZZ)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
